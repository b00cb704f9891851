"""Planning: the second step of load -> plan -> store -> run -> adapter.

This package turns a loaded calendar into a plan: the planner walks each segment's
dates, holidays, quiet hours, queues and series into deliveries, renders their texts
(templates with size and work limits), splits threads, applies lateness and volume
limits, and exports or previews the result (iCalendar, HTML). Plans are handed to the
store, which never plans; this package imports the calendar and media packages but never
the store, the runner or the command line.
"""
