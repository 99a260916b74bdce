from ._validate import check_int as check_int
