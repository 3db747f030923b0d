module gomap.bench/peers

go 1.19
