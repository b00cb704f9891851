"""What happened after publishing: engagement collected from the networks into the store
(`collect`, and `collect_runner` for the runner's collection by age), turned into
observations (`observations`, the one module that reads the store), and reported per
market, channel and local hour (`reports`, `report_html`) or as the best hours to post
(`best_times`). Import the modules themselves, e.g.
`from socialsched.analytics.collect import Collector`.
"""
