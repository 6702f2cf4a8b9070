use strict;
use warnings;
use Test::More tests => 1;
use Greeting::Tiny;
is(Greeting::Tiny::greet('t'), 'Hello, t!');
