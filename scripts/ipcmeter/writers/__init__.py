"""The report's writers: html.render_html, markdown.render_md, over tables.py."""
