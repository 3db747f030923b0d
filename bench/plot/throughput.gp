# Throughput vs threads for one mix: one line per contestant.
# gnuplot -e "data='tput-read90-uniform.dat'; out='tput-read90-uniform'; title_text='...'" throughput.gp
# The data file holds one block per contestant ("# name", then "threads mops"
# lines), blocks separated by two blank lines; titles lists the names in order.
if (!exists("title_text")) title_text = "throughput vs threads"
set title title_text
set xlabel "threads"
set ylabel "Mops/s (median of reps)"
set key outside right top
set grid
set yrange [0:*]
set xtics 1
stats data nooutput
n = STATS_blocks
# Ten distinct colours (Paul Tol's bright and muted sets): gnuplot's default
# cycle has eight, so a ninth contestant took the first one's colour.
array palette[10] = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", \
                     "#aa3377", "#000000", "#ee7733", "#009988", "#999933"]
do for [fmt in "svg png"] {
  if (fmt eq "svg") { set terminal svg size 900,500 dynamic } else { set terminal pngcairo size 900,500 }
  set output out.".".fmt
  plot for [i=0:n-1] data index i using 1:2 with linespoints lw 2 pt 7 lc rgb palette[i % 10 + 1] \
    title word(titles, i+1)
}
