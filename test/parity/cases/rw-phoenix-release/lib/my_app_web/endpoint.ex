defmodule MyAppWeb.Endpoint do
end
