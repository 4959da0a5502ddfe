-- An invoice's lines list the sessions each one bills: without this index every invoice shown, mailed or
-- rendered as a PDF read the whole of billed_segments once per line, a table that grows every month.
CREATE INDEX billed_segments_line ON billed_segments (line_id);
