mkdir -p rt/shared/Microsoft.NETCore.App/8.0.3 rt/host/fxr/8.0.3 app/bin app/obj
printf '#!/bin/sh\necho ".NET runtime 8.0.3"\n' > rt/dotnet && chmod 755 rt/dotnet
echo lib > rt/shared/Microsoft.NETCore.App/8.0.3/libcoreclr.so
echo fxr > rt/host/fxr/8.0.3/libhostfxr.so
echo LICENSE > rt/LICENSE.txt
tar -C rt --owner=0 --group=0 --numeric-owner --mtime=2024-03-12T00:00:00Z -czf dotnet-runtime.tar.gz .
rm -rf rt
echo stale > app/bin/old.dll
echo stale > app/obj/project.assets.json
echo u > app/WebApp.csproj.user
