module github.com/portrait-id/portrait

go 1.26.8
