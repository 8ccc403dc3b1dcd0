program main
  print "(a)", "OK"
end program main
