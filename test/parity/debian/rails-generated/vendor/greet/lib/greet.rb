module Greet; def self.hi = "hi"; end
