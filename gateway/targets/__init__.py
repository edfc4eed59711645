"""The registry of targets: premises with alarm panels (固定目标: banks, shops, homes with a
SIA DC-09 / Contact ID account) and vehicles with JT/T 808 terminals (移动目标: taxis, cash
vans, buses). A city has tens of thousands of them: they are data, not configuration.

Core data, shared by the channels that hear them (which import `registry`, never the
other way round):

- `tables`: the two tables (the core's migration 0006);
- `fields`: one target's fields checked, the same for a CSV row and an API document;
- `records`: upserts, look-ups and deletion as administrators make them; the API's documents;
- `registry`: what the channels call (caches, supervision, positions);
- `importer`: CSV files (UTF-8 or GB18030), every row checked before anything is written;
- `admin`: the command line (`alarmgw targets …`, `alarmgw vehicles …`).

The admin API is `gateway.http.targets`.
"""
