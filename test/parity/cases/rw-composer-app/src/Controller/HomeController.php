<?php namespace App\Controller; class HomeController {}
