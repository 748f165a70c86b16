"""Reading a usage report: plan the days, download the files, turn lines into tables."""
