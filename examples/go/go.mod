module example.com/ptest-example

go 1.19
