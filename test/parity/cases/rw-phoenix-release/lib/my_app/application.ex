defmodule MyApp.Application do
end
