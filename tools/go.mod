module github.com/trustid-cn/trustid/tools

go 1.26.0
