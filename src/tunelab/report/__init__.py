"""Reports: leaderboard and job summary, diagnosis, plots."""
