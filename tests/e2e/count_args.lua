-- count_args.lua: prints how many arguments the script got in `...` and in `arg`, and how many of
-- them differ from their position (arguments 1, 2, 3, ...), for host_test.sh and valgrind_test.sh.
local args, wrong = { ... }, 0
for i = 1, select("#", ...) do
  if args[i] ~= tostring(i) or arg[i] ~= tostring(i) then wrong = wrong + 1 end
end
print(select("#", ...), #arg, wrong)
