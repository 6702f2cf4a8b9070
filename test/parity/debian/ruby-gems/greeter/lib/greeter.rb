module Greeter
  def self.hi(name) = "hello #{name}"
end
