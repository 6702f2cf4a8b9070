<?php // docker
