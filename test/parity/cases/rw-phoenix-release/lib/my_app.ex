defmodule MyApp do
end
