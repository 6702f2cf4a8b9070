Gem::Specification.new do |s|
  s.name = "greeter"
  s.version = "0.1.0"
  s.summary = "Greets"
  s.authors = ["Example"]
  s.files = ["lib/greeter.rb", "exe/greet"]
  s.bindir = "exe"
  s.executables = ["greet"]
  s.license = "MIT"
end
