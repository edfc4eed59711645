"""110 calls from Asterisk over AMI (panoramisk): see `service`."""
