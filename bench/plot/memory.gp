# Bytes per entry of each contestant after prefilling the key set.
# gnuplot -e "data='memory.dat'; out='memory'" memory.gp
# Data: "name" bytes_per_entry, one line per contestant.
set title "memory: bytes per entry (u64 -> u64, allocator-counted)"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.7
set ylabel "bytes / entry"
set yrange [0:*]
set xtics rotate by -35 scale 0
set grid ytics
unset key
do for [fmt in "svg png"] {
  if (fmt eq "svg") { set terminal svg size 900,480 dynamic } else { set terminal pngcairo size 900,480 }
  set output out.".".fmt
  plot data using 2:xtic(1) lc rgb "#4477aa", '' using 0:2:(sprintf("%.0f", $2)) with labels offset 0,0.7 notitle
}
