require "greeter"
puts Greeter.hi("app")
