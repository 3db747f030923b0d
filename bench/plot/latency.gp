# Latency percentiles per contestant (open loop at a fixed rate).
# gnuplot -e "data='latency.dat'; out='latency'" latency.gp
# Data: "label" p50 p90 p99 p999 (ns), one line per latency cell.
set title "latency percentiles (open loop, ns, log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel "ns"
set xtics rotate by -35 scale 0 font ",9"
set key outside right top
set grid ytics
do for [fmt in "svg png"] {
  if (fmt eq "svg") { set terminal svg size 1000,520 dynamic } else { set terminal pngcairo size 1000,520 }
  set output out.".".fmt
  plot data using 2:xtic(1) title "p50", '' using 3 title "p90", '' using 4 title "p99", '' using 5 title "p99.9"
}
