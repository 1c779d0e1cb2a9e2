from services.operations.main import main

main()
