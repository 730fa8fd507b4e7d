"""Rendering of reports: SVG charts drawn on the server and the self-contained HTML file."""
