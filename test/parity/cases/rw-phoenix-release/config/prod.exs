import Config
# prod
