package Greeting::Tiny;
use strict;
use warnings;
our $VERSION = '0.01';

=head1 NAME

Greeting::Tiny - says hello

=head1 SYNOPSIS

  print Greeting::Tiny::greet("you");

=cut

sub greet { my ($who) = @_; return "Hello, $who!"; }

1;
