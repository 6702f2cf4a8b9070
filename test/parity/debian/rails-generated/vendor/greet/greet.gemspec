Gem::Specification.new do |s|
  s.name = "greet"
  s.version = "0.1.0"
  s.summary = "greets"
  s.authors = ["x"]
  s.files = ["lib/greet.rb"]
end
