import Config
# dev
