BEGIN { print "OK" }
