"""twistd plugin: `twistd -n alarmgw --config FILE`. The code lives in gateway.tap."""

from twisted.application.service import ServiceMaker

alarmgw = ServiceMaker("alarmgw", "gateway.tap", "110 alarm-intake gateway (接处警网关)", "alarmgw")
