<?php class App {}
