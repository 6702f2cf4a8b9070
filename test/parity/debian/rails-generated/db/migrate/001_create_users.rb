class CreateUsers; end
