# build outputs of a developer's tree, which .dockerignore keeps out (git would not hold them)
mkdir -p WebApp/bin/Debug/net8.0 WebApp/obj Shared/obj
echo stale > WebApp/bin/Debug/net8.0/WebApp.dll
echo stale > WebApp/obj/project.assets.json
echo stale > Shared/obj/project.assets.json
