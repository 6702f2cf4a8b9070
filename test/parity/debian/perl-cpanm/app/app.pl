use strict;
use warnings;
use Greeting::Tiny;
print Greeting::Tiny::greet($ENV{USER} // scalar getpwuid($<)), " from ", $INC{'Greeting/Tiny.pm'}, "\n";
