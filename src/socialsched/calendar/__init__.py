"""The calendar: the first step of load -> plan -> store -> run -> adapter.

This package reads a calendar's TOML (and its post sheets) into validated attrs models
(`model`: Calendar, Segment, Channel, Post, Observance), with the values those models are
made of: cron schedules, time zones, holidays and observances, audiences, queues, locale
keys, posting policies, cadence and duplicate windows, and the lint that reports a
calendar's problems by line. It describes what should be posted and never plans: the
planning package builds on it, and nothing here imports planning, the store or the runner.
"""
