from linli.cli import app

app()
