"""The Studio editor's work on a project, without any UI: retime, split and merge lines
(``editing``), keep every take of a line (``takes``), and what a timeline draws (``timeline``)."""
