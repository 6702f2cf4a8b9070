import Config
if config_env() == :prod do
end
