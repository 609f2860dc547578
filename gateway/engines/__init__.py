"""The three actions a route can name: cached read, validated write, forward."""
