"""110 alarms by SMS over SMPP 3.4: text coding (`text`) and reassembly (`concat`)."""
