mkdir -p bin obj/Debug logs keep src
echo b > bin/app.dll; echo o > obj/Debug/x; echo l > logs/a.log; echo k > keep/k.log; echo s > src/Program.cs; echo u > user.suo
printf '# build output\r\nbin/\r\n./obj  \r\n\r\n**/*.log \r\n!keep/*.log\r\n*.suo\t\r\n' > .dockerignore
