from tgshop.cli import main

main()
