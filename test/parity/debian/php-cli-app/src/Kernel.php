<?php
namespace App;
final class Kernel { public const VERSION = "1.0"; }
