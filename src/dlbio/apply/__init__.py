"""Kept models applied to new data: query cells (:mod:`.cells`), molecules (:mod:`.molecules`), tiles (:mod:`.tiles`)"""
