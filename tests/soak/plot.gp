# The soak's resources over time: gnuplot -e "csv='samples.csv'; png='soak.png'" plot.gp
# (columns as written by tether_soak: t_s, rss_kib, fds, threads, ...).
if (!exists("csv")) csv = 'samples.csv'
if (!exists("png")) png = 'soak.png'
set terminal pngcairo size 1000,700 font ",10"
set output png
set datafile separator ","
set key bottom right
set grid
set autoscale xfix
set multiplot layout 2,1 title "tether soak: client under continuous churn"
set ylabel "RSS (MiB)"
set yrange [0:*]
plot csv using 1:($2/1024) skip 1 with lines lw 2 title "RSS"
set xlabel "time (s)"
set key outside bottom center horizontal
set ylabel "open fds, threads"
set yrange [0:*]
set offsets 0, 0, 2, 0
set y2label "queued messages"
set y2range [0:*]
set y2tics
plot csv using 1:3 skip 1 with steps lw 2 title "open fds", \
     csv using 1:4 skip 1 with steps lw 2 title "threads", \
     csv using 1:11 skip 1 axes x1y2 with steps lw 1 lc rgb "#aaaaaa" title "queued messages (right axis)"
unset multiplot
