"""The console (指挥中心工作台): the pages the people in the center work in all day.

Server-rendered Jinja2 pages on the gateway's own twisted.web site, a small vendored
script per page and one Server-Sent-Events stream per tab (`stream`). Logins are
console users (`accounts`), with the same roles and unit scopes as API tokens; every
action goes through the same workflow API as everything else."""
