module sockt

go 1.19
